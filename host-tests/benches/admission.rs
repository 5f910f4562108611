//! What an admission costs the way Kubewarden's policy server runs a policy: for every policy under
//! `policies/` and both of its builds (waPC `dist/<policy>.wasm`, Gatekeeper
//! `dist/<policy>.gatekeeper.wasm`), a **fresh instance per request** (instantiated from a
//! pre-instantiated module, [`PolicyPre`], as the policy server rehydrates one for each admission;
//! the Gatekeeper build gets its `data` on each instance), and **warm** calls on one instance, beside
//! the same rule natively in the same run (the baseline of the ratios). Also the instance's
//! linear memory after the call, and the time to compile each module.
//!
//! Its own harness (not criterion: it reports percentiles): each measurement warms up, then takes
//! samples for a fixed time (at least [`MIN_SAMPLES`]), timing each request on its own; p50 and
//! p99 are nearest-rank percentiles of those samples. Prints a line per measurement on stderr and
//! a markdown table at the end.
//!
//! `cargo bench -p custody-host-tests --bench admission [-- POLICY...]` after `make modules` (in
//! `make bench`). `CUSTODY_BENCH_SECONDS` sets the sampling time of each measurement (default 1.5).

use std::hint::black_box;
use std::time::{Duration, Instant};

use custody_host::{Host, Limits, PolicyInstance, PolicyModule, PolicyPre};
use custody_host_tests::bench::{admission, Admission};
use custody_host_tests::{
    gatekeeper, module_path, native_gatekeeper, native_validator, policies, NativeHost,
};
use custody_sdk::host::InventoryHost;

/// The fewest samples a measurement takes, whatever its time budget.
const MIN_SAMPLES: usize = 30;
/// The most samples a measurement takes.
const MAX_SAMPLES: usize = 200_000;
/// Warm-up before each measurement.
const WARM_UP: Duration = Duration::from_millis(300);
/// How many times each module is compiled (the median is reported).
const COMPILES: usize = 3;

/// The sorted durations of one measurement.
struct Stats(Vec<Duration>);

impl Stats {
    /// Nearest-rank percentile `p` (0 < p ≤ 100).
    fn percentile(&self, p: usize) -> Duration {
        let rank = (self.0.len() * p).div_ceil(100).max(1);
        self.0.get(rank - 1).copied().unwrap_or_default()
    }

    fn p50(&self) -> Duration {
        self.percentile(50)
    }

    fn p99(&self) -> Duration {
        self.percentile(99)
    }
}

/// Runs `once` (which times what it measures itself and answers that duration) for the warm-up,
/// then for `budget` (at least [`MIN_SAMPLES`] times, at most [`MAX_SAMPLES`]).
fn measure(label: &str, budget: Duration, mut once: impl FnMut() -> Duration) -> Stats {
    let start = Instant::now();
    let mut warm_ups = 0;
    while start.elapsed() < WARM_UP || warm_ups < 3 {
        once();
        warm_ups += 1;
    }
    let mut samples = Vec::new();
    let start = Instant::now();
    while (start.elapsed() < budget || samples.len() < MIN_SAMPLES) && samples.len() < MAX_SAMPLES {
        samples.push(once());
    }
    samples.sort_unstable();
    let stats = Stats(samples);
    eprintln!(
        "  {label:<40} p50 {:>10}  p99 {:>10}  ({} samples)",
        time(stats.p50()),
        time(stats.p99()),
        stats.0.len()
    );
    stats
}

fn time(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros < 1000.0 {
        format!("{micros:.1} µs")
    } else {
        format!("{:.2} ms", micros / 1000.0)
    }
}

fn bytes(n: usize) -> String {
    format!("{} KiB ({} pages)", n / 1024, n / 65536)
}

fn ratio(a: Duration, b: Duration) -> String {
    if b.is_zero() {
        return "-".to_owned();
    }
    format!("{:.1}×", a.as_secs_f64() / b.as_secs_f64())
}

/// One row of the table.
struct Row {
    policy: String,
    build: &'static str,
    request: String,
    native: Stats,
    warm: Stats,
    fresh: Stats,
    memory: usize,
    compile: Duration,
    size: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Build {
    Wapc,
    Gatekeeper,
}

fn main() {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let budget = std::env::var("CUSTODY_BENCH_SECONDS")
        .ok()
        .map(|s| {
            s.parse::<f64>()
                .ok()
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .unwrap_or_else(|| panic!("CUSTODY_BENCH_SECONDS={s}: not a number of seconds"))
        })
        .unwrap_or(Duration::from_millis(1500));
    let host = Host::new(Limits::default()).expect("host");
    let mut rows = Vec::new();
    for &policy in policies() {
        if !only.is_empty() && !only.iter().any(|o| o == policy) {
            continue;
        }
        let admission = admission(policy);
        for build in [Build::Wapc, Build::Gatekeeper] {
            rows.push(bench(&host, policy, build, &admission, budget));
        }
    }
    print_table(&rows, budget);
}

fn bench(host: &Host, policy: &str, build: Build, admission: &Admission, budget: Duration) -> Row {
    let (name, build_name) = match build {
        Build::Wapc => (policy.to_owned(), "waPC"),
        Build::Gatekeeper => (gatekeeper(policy), "Gatekeeper"),
    };
    let path = module_path(&name);
    let wasm = std::fs::read(&path).expect("module");
    eprintln!(
        "{name} ({} bytes), {}: {} bytes of request",
        wasm.len(),
        admission.name,
        admission.payload().len()
    );

    let mut compiles: Vec<Duration> = Vec::new();
    let mut module = None;
    for _ in 0..COMPILES {
        let start = Instant::now();
        module = Some(PolicyModule::from_bytes(host, &name, &wasm).expect("compile"));
        compiles.push(start.elapsed());
    }
    compiles.sort_unstable();
    let compile = compiles.get(COMPILES / 2).copied().unwrap_or_default();
    eprintln!("  {:<40} {}", "compile (median)", time(compile));
    let module = module.expect("compiled");
    let pre = PolicyPre::new(host, &module).expect("pre-instantiate");

    let data = admission.cluster.data();
    let data_text = serde_json::to_vec(&data).expect("data");
    let fresh_instance = || {
        let mut instance = PolicyInstance::from_pre(host, &pre, Box::new(admission.capabilities()))
            .expect("instantiate");
        if build == Build::Gatekeeper {
            instance.set_data(&data).expect("data");
        }
        instance
    };
    let call = |instance: &mut PolicyInstance| {
        instance
            .validate(black_box(&admission.request), &admission.settings)
            .expect("validate")
    };

    // The module and the rule natively must agree, or the benchmark would time an error path.
    let wasm_answer = call(&mut fresh_instance());
    let (native_accepted, native): (bool, Box<dyn Fn() + '_>) = match build {
        Build::Wapc => {
            let validate = native_validator(policy).expect("native rule");
            let payload = admission.payload();
            let answer = validate(&payload, &mut NativeHost(admission.capabilities()));
            (
                answer.accepted,
                Box::new(move || {
                    black_box(validate(
                        black_box(&payload),
                        &mut NativeHost(admission.capabilities()),
                    ));
                }),
            )
        }
        Build::Gatekeeper => {
            let evaluate = native_gatekeeper(policy).expect("native rule");
            let input = admission.gatekeeper_input();
            let violations = evaluate(&input, &mut InventoryHost::new(&data_text));
            let data_text = &data_text;
            (
                violations.is_empty(),
                Box::new(move || {
                    black_box(evaluate(
                        black_box(&input),
                        &mut InventoryHost::new(data_text),
                    ));
                }),
            )
        }
    };
    assert_eq!(
        wasm_answer.accepted, native_accepted,
        "{name}: the module and the native rule disagree: {wasm_answer:?}"
    );

    let native = measure("native", budget, || {
        let start = Instant::now();
        native();
        start.elapsed()
    });
    let mut warm_instance = fresh_instance();
    let warm = measure("warm instance", budget, || {
        let start = Instant::now();
        call(&mut warm_instance);
        start.elapsed()
    });
    let mut memory = 0;
    let fresh = measure("fresh instance (instantiate + call)", budget, || {
        let caps = Box::new(admission.capabilities());
        let start = Instant::now();
        let mut instance = PolicyInstance::from_pre(host, &pre, caps).expect("instantiate");
        if build == Build::Gatekeeper {
            instance.set_data(&data).expect("data");
        }
        call(&mut instance);
        let elapsed = start.elapsed();
        memory = instance.memory_size();
        elapsed
    });
    eprintln!(
        "  memory after the call: fresh {}, warm {}",
        bytes(memory),
        bytes(warm_instance.memory_size())
    );
    Row {
        policy: policy.to_owned(),
        build: build_name,
        request: format!(
            "{} ({})",
            admission.name,
            if wasm_answer.accepted {
                "allowed"
            } else {
                "denied"
            }
        ),
        native,
        warm,
        fresh,
        memory,
        compile,
        size: wasm.len() as u64,
    }
}

fn print_table(rows: &[Row], budget: Duration) {
    println!();
    println!(
        "Fresh instance = instantiate from the pre-instantiated module (+ set the data, Gatekeeper) \
         + validate; warm = validate on one instance; native = the same rule linked in. \
         p50 / p99 of ≥ {MIN_SAMPLES} samples in {:.1} s each; memory = the fresh instance's linear \
         memory after the call; compile = median of {COMPILES} (Cranelift, OptLevel::Speed).",
        budget.as_secs_f64()
    );
    println!();
    println!(
        "| policy | build | request | native p50 | warm p50 / p99 | fresh p50 / p99 | fresh/native | memory | compile | module |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        println!(
            "| {} | {} | {} | {} | {} / {} | {} / {} | {} | {} | {} | {} KB |",
            row.policy,
            row.build,
            row.request,
            time(row.native.p50()),
            time(row.warm.p50()),
            time(row.warm.p99()),
            time(row.fresh.p50()),
            time(row.fresh.p99()),
            ratio(row.fresh.p50(), row.native.p50()),
            bytes(row.memory),
            time(row.compile),
            row.size / 1000,
        );
    }
}
