//! What each figure in a report means, for readers new to load testing (`--glossary`).

/// (term, explanation), in the order a report shows the terms.
pub const TERMS: &[(&str, &str)] = &[
    (
        "Concurrency / VUs",
        "How many virtual users (connections in quick mode) send requests at the same time. Each one waits for its answer before sending the next request (closed model).",
    ),
    (
        "Open model",
        "Requests start on a fixed schedule (--rps) whatever the server does, like real independent users. Latency is then measured from the moment a request should have started, so a stalled server shows up in the percentiles instead of silently slowing the test down.",
    ),
    (
        "Requests (http_reqs)",
        "Requests volley started. Every one ends either with an HTTP response, whatever its status, or with a transport failure.",
    ),
    (
        "Failures (http_req_failed)",
        "Requests without an expected answer: transport failures (refused, reset, closed, timeout, TLS, DNS, malformed) plus responses whose status is not 2xx or 3xx.",
    ),
    (
        "Success rate",
        "The share of requests that got an expected answer: 100% minus the error rate.",
    ),
    (
        "Requests per second (rps)",
        "Requests completed divided by the run's wall time: the throughput the service sustained.",
    ),
    (
        "Latency (http_req_duration)",
        "Time from sending a request (or from its scheduled start, in the open model) to the last byte of the answer.",
    ),
    (
        "Percentiles (p50, p90, p95, p99, p99.9)",
        "p95 = 300 ms means 95% of requests took 300 ms or less and 5% took longer. p50 is the median; p99 and p99.9 describe the slowest requests, the ones users remember.",
    ),
    (
        "Tail latency",
        "The slowest few percent of requests. A p99 many times the median means some requests wait far longer than typical ones (queueing, garbage collection, locks, a slow backend).",
    ),
    (
        "Waiting (TTFB)",
        "Time to first byte: from the request sent to the first byte of the answer, i.e. the server's own processing time plus one network round trip.",
    ),
    (
        "Dropped iterations",
        "Open model only: scheduled requests that could not start because every allowed in-flight slot was busy. The server then received less load than planned.",
    ),
    (
        "Schedule lag",
        "Open model only: how late requests actually started relative to their schedule. Large values mean volley could not keep up, and its figures are suspect.",
    ),
    (
        "Thresholds",
        "Pass/fail criteria on metrics, as in k6 (p(95)<500, rate<0.01). A crossed threshold makes volley exit with code 99.",
    ),
    (
        "Checks",
        "Assertions on each response (status 200, body contains ...); their pass rate is reported per check.",
    ),
    (
        "Saturation",
        "The load beyond which throughput stops growing: extra users then only queue, so latency rises while requests per second stay flat.",
    ),
    (
        "CPU %",
        "Processor time used by a process; 100% is one core fully busy, so a 4-process service can reach 400%.",
    ),
    (
        "Data received / sent",
        "Bytes read from and written to the network by volley, headers included, and their rate.",
    ),
];
