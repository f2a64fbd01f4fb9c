//! Request bodies for a [`PodPlan`](super::decide::PodPlan).
