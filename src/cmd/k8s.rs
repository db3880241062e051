//! `volley k8s PLAN --parallelism N`: the Kubernetes manifests that run the plan in N segments
//! (`volley_runner::kubernetes`), written out, or with `--apply` run through kubectl: apply,
//! wait, collect each pod's result from its logs, merge them (the one merge of `volley
//! merge`), report as a run would, and delete what was created.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use volley_runner::Stop;
use volley_runner::kubernetes::{self as k8s, Bundle, Job, Kubectl, KubernetesError, Quantity};

use crate::outcome::{Outcome, usage};

#[derive(clap::Args, Debug)]
pub struct K8sArgs {
    /// The plan file (YAML); the files it reads travel with it in a ConfigMap.
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,
    /// Pods, each running one segment (1/N) of the test.
    #[arg(long = "parallelism", value_name = "N")]
    pub parallelism: u32,
    /// The container image with volley (built from the repository's Dockerfile).
    #[arg(long = "image", value_name = "IMAGE", default_value_t = k8s::default_image())]
    pub image: String,
    /// The namespace (default: kubectl's current one).
    #[arg(long = "namespace", short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
    /// The Job's and ConfigMap's name (default: volley-<plan>-<start time>).
    #[arg(long = "name", value_name = "NAME")]
    pub name: Option<String>,
    /// Without --apply: write the manifests here (default stdout). With --apply: save the
    /// merged result file (JSON) here, as `volley run -o` does.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Apply the manifests with kubectl (from PATH), wait for the pods, merge their results,
    /// print the summary, then delete the Job and the ConfigMap.
    #[arg(long = "apply")]
    pub apply: bool,
    /// With --apply: keep the Job, its pods and the ConfigMap afterwards.
    #[arg(long = "keep", requires = "apply")]
    pub keep: bool,
    /// With --apply: also save the manifests applied.
    #[arg(long = "manifests", value_name = "FILE", requires = "apply")]
    pub manifests: Option<PathBuf>,
    /// With --apply: render a report of the merged result; the format comes from the extension.
    #[arg(long = "report", value_name = "FILE", requires = "apply")]
    pub report: Option<PathBuf>,
    /// With --apply: print the merged result JSON instead of the summary.
    #[arg(long = "json", requires = "apply")]
    pub json: bool,
    /// With --apply: no summary.
    #[arg(short = 'q', long = "quiet", requires = "apply")]
    pub quiet: bool,
    /// The pods' shared start (UTC, RFC 3339). Default: now (when the manifests are written
    /// or applied) plus --start-delay.
    #[arg(long = "start-at", value_name = "RFC3339", conflicts_with = "start_delay")]
    pub start_at: Option<String>,
    /// How long after now the pods start together: time to schedule them and pull the image.
    #[arg(long = "start-delay", value_name = "DURATION", default_value = "30s")]
    pub start_delay: String,
    /// With --apply: how long to wait for the Job (default: the delay, the plan's longest
    /// scenario with its graceful stop, and 5 minutes).
    #[arg(long = "timeout", value_name = "DURATION", requires = "apply")]
    pub timeout: Option<String>,
    /// CPU each pod requests.
    #[arg(long = "cpu-request", value_name = "QUANTITY", default_value = "1")]
    pub cpu_request: String,
    /// CPU limit of each pod (none by default: a limit throttles the generator, and the
    /// throttled time reads as the service's latency).
    #[arg(long = "cpu-limit", value_name = "QUANTITY")]
    pub cpu_limit: Option<String>,
    /// Memory each pod requests.
    #[arg(long = "memory-request", value_name = "QUANTITY", default_value = "256Mi")]
    pub memory_request: String,
    /// Memory limit of each pod.
    #[arg(long = "memory-limit", value_name = "QUANTITY", default_value = "1Gi")]
    pub memory_limit: String,
    /// How long Kubernetes keeps the finished Job and its pods' logs.
    #[arg(long = "ttl", value_name = "DURATION", default_value = "1h")]
    pub ttl: String,
    /// Seed of the random choices, passed to every pod.
    #[arg(long = "seed")]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub overrides: super::validate::PlanOverrideArgs,
}

pub fn main(args: K8sArgs) -> anyhow::Result<Outcome> {
    let overrides = args.overrides.to_overrides()?;
    let spec = volley_plan::load(&args.plan, &overrides).map_err(super::validate::plan_error)?;
    let bundle = Bundle::collect(&args.plan, &spec).map_err(k8s_error)?;
    let duration =
        |flag: &str, v: &str| volley_plan::quick::flag_duration(flag, v).map_err(|e| usage(e.0));
    let delay = duration("--start-delay", &args.start_delay)?;
    let ttl = duration("--ttl", &args.ttl)?;
    let quantity = |flag, v: &str| Quantity::parse(flag, v).map_err(k8s_error);
    let resources = k8s::Resources {
        cpu_request: quantity("--cpu-request", &args.cpu_request)?,
        cpu_limit: args.cpu_limit.as_deref().map(|v| quantity("--cpu-limit", v)).transpose()?,
        memory_request: quantity("--memory-request", &args.memory_request)?,
        memory_limit: Some(quantity("--memory-limit", &args.memory_limit)?),
    };
    let job = |start_at: SystemTime| Job {
        name: args.name.clone().unwrap_or_else(|| k8s::default_name(&args.plan, start_at)),
        namespace: args.namespace.clone(),
        image: args.image.clone(),
        parallelism: args.parallelism,
        start_at,
        run_args: run_args(&args),
        resources: resources.clone(),
        ttl_after_finished: ttl,
    };
    let start_at = |now: SystemTime| -> anyhow::Result<SystemTime> {
        let Some(text) = &args.start_at else { return Ok(now + delay) };
        let seg =
            super::segment::SegmentArgs { start_at: Some(text.clone()), ..Default::default() };
        Ok(seg.start_at(now)?.unwrap_or(now))
    };

    if !args.apply {
        let job = job(start_at(SystemTime::now())?);
        let text = k8s::manifests(&job, &bundle, &spec).map_err(k8s_error)?;
        match &args.out {
            None => print!("{text}"),
            Some(path) => {
                super::run::check_writable(path, "-o/--out")?;
                std::fs::write(path, &text).with_context(|| {
                    format!("cannot write the manifests to `{}`", path.display())
                })?;
                eprintln!(
                    "wrote {} (job {}: {} pods starting at {}); run it with `kubectl apply -f {}`",
                    path.display(),
                    job.name,
                    job.parallelism,
                    humantime::format_rfc3339_seconds(job.start_at),
                    path.display()
                );
            }
        }
        return Ok(Outcome::Success);
    }

    // Every output is checked before anything is created in the cluster.
    for (path, flag) in [(&args.out, "-o/--out"), (&args.manifests, "--manifests")] {
        if let Some(p) = path {
            super::run::check_writable(p, flag)?;
        }
    }
    if let Some(p) = &args.report {
        super::report::format_of(p)?;
        super::run::check_writable(p, "--report")?;
    }
    let kubectl = Kubectl::find(args.namespace.clone()).map_err(k8s_error)?;
    // The start is computed now, as late as possible before applying.
    let now = SystemTime::now();
    let job = job(start_at(now)?);
    let text = k8s::manifests(&job, &bundle, &spec).map_err(k8s_error)?;
    if let Some(p) = &args.manifests {
        std::fs::write(p, &text)
            .with_context(|| format!("cannot write the manifests to `{}`", p.display()))?;
    }
    let start_in = job.start_at.duration_since(now).unwrap_or(Duration::ZERO);
    let timeout = match &args.timeout {
        Some(t) => duration("--timeout", t)?,
        None => k8s::default_timeout(&spec, start_in),
    };
    let stop = Stop::on_signals();
    eprintln!(
        "applying job {} ({} pods, starting at {}, waiting up to {}s)",
        job.name,
        job.parallelism,
        humantime::format_rfc3339_seconds(job.start_at),
        timeout.as_secs()
    );
    let ran = kubectl
        .apply(&text)
        .and_then(|()| kubectl.wait(&job.name, timeout, &stop))
        .and_then(|()| k8s::collect(&kubectl, &job.name, job.parallelism as usize));
    if args.keep {
        eprintln!("kept job {} and its ConfigMap (--keep)", job.name);
    } else if let Err(e) = kubectl.delete(&job.name) {
        eprintln!("warning: could not delete what volley created: {e}");
    }
    let shards = match ran {
        Ok(s) => s,
        Err(KubernetesError::Interrupted { .. }) => return Ok(Outcome::Interrupted),
        Err(e) => return Err(k8s_error(e)),
    };
    let merged = super::merge::merge_results(&shards)?;
    let out = super::merge::MergeArgs {
        results: Vec::new(),
        out: args.out.clone(),
        report: args.report.clone(),
        json: args.json,
        quiet: args.quiet,
    };
    super::merge::write_merged(&merged, &out)?;
    Ok(super::run::outcome_of(&merged, &spec))
}

/// The arguments of `volley run` every pod gets besides its segment: the plan's overrides and
/// the seed, as given here, so that each pod loads the very plan validated here.
fn run_args(args: &K8sArgs) -> Vec<String> {
    let o = &args.overrides;
    let mut out = Vec::new();
    for s in &o.set {
        out.extend(["--set".to_string(), s.clone()]);
    }
    for e in &o.env {
        out.extend(["--env".to_string(), e.clone()]);
    }
    if let Some(v) = o.vus {
        out.extend(["--vus".to_string(), v.to_string()]);
    }
    if let Some(d) = &o.duration {
        out.extend(["--duration".to_string(), d.clone()]);
    }
    if let Some(s) = args.seed {
        out.extend(["--seed".to_string(), s.to_string()]);
    }
    out
}

/// The user's mistakes exit 2; the cluster's and kubectl's failures exit 1.
fn k8s_error(e: KubernetesError) -> anyhow::Error {
    use KubernetesError::*;
    match e {
        Outside { .. }
        | Read { .. }
        | TooBig { .. }
        | Name { .. }
        | Quantity { .. }
        | NoPods { .. }
        | IdleSegment { .. } => usage(e),
        e => anyhow::anyhow!("{e}"),
    }
}
