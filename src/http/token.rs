//! Bearer token files, read before every request: a projected service-account token or a mounted secret is
//! rotated in place, and a token read once would expire under a long-running client.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a token file gave no token.
#[derive(Debug)]
pub enum TokenFileError {
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    Empty {
        path: PathBuf,
    },
}

impl fmt::Display for TokenFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenFileError::Unreadable { path, .. } => {
                write!(f, "token file {}", path.display())
            }
            TokenFileError::Empty { path } => write!(f, "token file {} is empty", path.display()),
        }
    }
}

impl std::error::Error for TokenFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TokenFileError::Unreadable { source, .. } => Some(source),
            TokenFileError::Empty { .. } => None,
        }
    }
}

/// The token in `path`, without surrounding whitespace (files usually end in a newline).
pub fn read_token_file(path: &Path) -> Result<String, TokenFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(TokenFileError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_trimmed_and_each_read_sees_the_file_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        assert_eq!(read_token_file(&path).unwrap(), "first");
        std::fs::write(&path, "rotated").unwrap();
        assert_eq!(read_token_file(&path).unwrap(), "rotated");
        std::fs::write(&path, " \n").unwrap();
        assert!(matches!(
            read_token_file(&path),
            Err(TokenFileError::Empty { .. })
        ));
        let missing = read_token_file(&dir.path().join("none")).unwrap_err();
        assert!(std::error::Error::source(&missing).is_some());
        let path = dir.path().join("none");
        assert!(
            missing.to_string().contains(&path.display().to_string()),
            "{missing}"
        );
    }
}
