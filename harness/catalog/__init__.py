"""The scenario catalog: one TOML file per scenario."""
