//! The docs read the registry: the README's provider table lists exactly
//! the compiled-in providers, each with its API style and key variable as
//! its spec declares them.

#[test]
fn the_readme_provider_table_matches_the_registry() {
    let readme = include_str!("../../../README.md");
    let table = readme
        .split("| provider | API style | key |")
        .nth(1)
        .expect("the README has a provider table");
    let rows: Vec<&str> = table
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .collect();
    let providers = imagegen::providers();
    assert_eq!(
        rows.len(),
        providers.len(),
        "one row per provider: {rows:#?}"
    );
    for (row, provider) in rows.iter().zip(&providers) {
        let spec = provider.spec;
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert!(
            cells[1].starts_with(&format!("`{}`", spec.name)),
            "{row} should be {}",
            spec.name
        );
        assert_eq!(cells[2], spec.about, "{row}");
        assert!(
            cells[3].contains(&format!("`{}`", spec.api_key_var)),
            "{row}"
        );
    }
}
