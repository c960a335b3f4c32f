//! The fuzz target's entry point (`meshrender::fuzz_pipeline`, driven by `fuzz/`) over its seed
//! corpus: every seed goes through parse → validate → plan → render → seal without a panic,
//! and the valid ones render files (so the target exercises the whole pipeline, not only
//! the parser).

use meshrender::fuzz_pipeline;

#[test]
fn every_seed_runs_the_whole_pipeline_without_a_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/pipeline");
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed-")
        })
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 50, "{} seeds", seeds.len());
    let rendered = seeds
        .iter()
        .filter(|p| fuzz_pipeline(&std::fs::read(p).unwrap()) > 0)
        .count();
    assert!(
        rendered >= 10,
        "only {rendered} seeds rendered: the target would only fuzz the parser"
    );
}
