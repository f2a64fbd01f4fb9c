//! TEMPORARY (replaced by the HTML helper's work).
use super::report::ReplayReport;
pub fn render(report: &ReplayReport) -> String {
    format!("<pre>{}</pre>", super::text::render(report))
}
