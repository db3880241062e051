//! `--dashboard[=ADDR]` and `--dashboard-token`: one flag struct shared by every command that
//! runs load (quick mode, `run`, `scale`, `capacity`), so each gets the live dashboard the
//! same way. The server itself is `volley_runner::dashboard`.

use volley_runner::dashboard::{DEFAULT_ADDR, Dashboard};
use volley_runner::{Live, Stop};

use crate::outcome::usage;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct DashboardArgs {
    /// Serve a live dashboard (and Prometheus /metrics, k6's REST API /v1/status) while the
    /// load runs; ADDR defaults to 127.0.0.1:5665, port 0 picks a free one.
    #[arg(
        long = "dashboard",
        value_name = "ADDR",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = DEFAULT_ADDR
    )]
    pub dashboard: Option<String>,
    /// Token every dashboard request must carry (required off loopback; generated when
    /// missing).
    #[arg(long = "dashboard-token", value_name = "TOKEN", env = "VOLLEY_DASHBOARD_TOKEN")]
    pub token: Option<String>,
}

impl DashboardArgs {
    /// Starts the dashboard when asked, prints its URL on stderr and feeds it from `live`.
    pub fn start(&self, stop: &Stop, live: &Live) -> anyhow::Result<Option<Dashboard>> {
        let Some(addr) = &self.dashboard else {
            if self.token.is_some() {
                return Err(usage("--dashboard-token needs --dashboard"));
            }
            return Ok(None);
        };
        let d = Dashboard::start(addr, self.token.clone(), stop.clone())
            .map_err(|e| usage(e.to_string()))?;
        d.attach(live);
        if let Some(t) = d.generated_token() {
            eprintln!(
                "volley: the dashboard listens on {} (not loopback): every request needs the \
                 token {t} (given with --dashboard-token next time)",
                d.addr()
            );
        }
        eprintln!("volley: dashboard at {}", d.url());
        Ok(Some(d))
    }
}
