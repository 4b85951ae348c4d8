"""Outgoing email: messages from templates, a backend, and an outbox.

- :mod:`.messages`: each message in plain text and HTML, from the files in
  ``templates/``;
- :mod:`.backends`: ``console`` (the log, for development) or ``smtp``;
- :mod:`.outbox`: sending in background tasks, off the request path.
"""
