//! Why a report could not be rendered.

/// Rendering errors. Results themselves are data: a report renders whatever they hold, so
/// these come from the renderers' own machinery, not from user input.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("template error: {0}")]
    Template(#[from] minijinja::Error),
    #[error(transparent)]
    Chart(#[from] crate::charts::ChartError),
    #[error("CSV error: {0}")]
    Csv(#[from] csv::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
