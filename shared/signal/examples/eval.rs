//! Prints the category model's report on the labelled set (the table in
//! BENCHMARKS.md): `cargo run -q -p signal --example eval [-- --mistakes]`.
#![allow(clippy::print_stdout)]

use signal::classify::Weights;
use signal::evaluation;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let examples = evaluation::parse_examples(evaluation::LABELLED)?;
    let weights = Weights::shipped()?;
    let report = evaluation::evaluate(&examples, &weights);
    println!(
        "weights {} on {} examples\n",
        weights.version, report.examples
    );
    println!("{}", report.markdown());
    println!("baseline macro-F1: {:.3}", evaluation::baseline_macro_f1()?);
    if std::env::args().any(|a| a == "--mistakes") {
        let mut confusions: Vec<_> = report.confusions.iter().collect();
        confusions.sort_by(|a, b| b.1.cmp(a.1));
        for ((expected, predicted), n) in confusions {
            println!("{n:>3} × {} → {}", expected.as_str(), predicted.as_str());
        }
        for (id, expected, predicted) in &report.mistakes {
            println!("{id}: {} → {}", expected.as_str(), predicted.as_str());
        }
    }
    Ok(())
}
