"""The project's name and slug as they were given at generation."""

PROJECT_NAME = {{ cookiecutter.project_name | python_string }}
PROJECT_SLUG = {{ cookiecutter.project_slug | python_string }}
{%- if cookiecutter.database == "postgresql" %}
# The database that the default DATABASE_URL names.
DATABASE_NAME = {{ cookiecutter.project_slug | replace('-', '_') | python_string }}
{%- endif %}
