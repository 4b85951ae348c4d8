"""The project's name and slug as they were given at generation."""

PROJECT_NAME = {{ cookiecutter.project_name | python_string }}
PROJECT_SLUG = {{ cookiecutter.project_slug | python_string }}
