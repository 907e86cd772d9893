use std::net::SocketAddr;

use crate::builtin_images;

/// Why an image could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The image reference names no built-in image.
    #[error("image {image:?} is not built into knet; built-in images: {known}")]
    UnknownImage {
        /// The reference as given.
        image: String,
        /// Comma-separated built-in names.
        known: String,
    },
    /// The command line was not understood.
    #[error("{0}")]
    Usage(String),
    /// A listener could not be bound.
    #[error("failed to listen on {protocol} {addr}: {source}")]
    Listen {
        /// `tcp` or `udp`.
        protocol: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// A signal handler could not be installed.
    #[error("failed to install a signal handler: {0}")]
    Signal(#[source] std::io::Error),
}

impl ImageError {
    pub(crate) fn unknown_image(image: &str) -> Self {
        let known = builtin_images()
            .iter()
            .map(|i| i.name)
            .collect::<Vec<_>>()
            .join(", ");
        ImageError::UnknownImage {
            image: image.to_owned(),
            known,
        }
    }
}
