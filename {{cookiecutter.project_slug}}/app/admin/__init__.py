"""User administration: ``/admin/*``."""
