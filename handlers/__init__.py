"""Pure logic of regdeploy: payload formats, image references and decisions. No I/O here."""
