"""The running regdeploy service: CLI, configuration, web app, store."""
