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

    // Moderation over the same set: ordinary community messages, so every
    // hold is a false positive (authors of unknown age, each text posted once).
    let lexicon = signal::moderation::Lexicon::shipped()?;
    let context = signal::moderation::Context {
        member_age_hours: None,
        same_text_count: 1,
    };
    let mut held = Vec::new();
    let mut flagged = 0;
    for example in &examples {
        let (draft, _) = evaluation::draft_of(example)?;
        let verdict =
            signal::moderation::moderate(&signal::moderated_text(&draft), &context, &lexicon);
        flagged += usize::from(!verdict.flags.is_empty());
        if verdict.hold {
            held.push(example.id.clone());
        }
    }
    println!(
        "\nmoderation {} on the same {} examples: {} flagged (kept, noted), {} held for review{}",
        lexicon.version,
        examples.len(),
        flagged,
        held.len(),
        if held.is_empty() {
            String::new()
        } else {
            format!(": {}", held.join(", "))
        }
    );
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
