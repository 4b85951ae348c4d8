"""The project's name as it was given at generation, shown in the API docs."""

PROJECT_NAME = {{ cookiecutter.project_name | python_string }}
