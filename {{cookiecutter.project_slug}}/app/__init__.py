"""{{ cookiecutter.project_name | replace('"', "'") }}: a FastAPI service."""
