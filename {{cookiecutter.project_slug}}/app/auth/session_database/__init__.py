"""Database sessions: the cookie holds an opaque id, the server holds the session.

The id is 256 random bits from :mod:`secrets`; the ``user_session`` table keeps
only its SHA-256, so a copy of the table lets nobody in. Every request reads
its session and its user in one indexed query, with no cache in the process,
so a logout or a revocation is seen at once by every process that shares the
database. Logout and revocation delete the row: there is nothing left to
filter out on the hot path, nor to resurrect by mistake. Each row also keeps
the user's security stamp at login and is only valid while it still matches.

The rest of the application sees this strategy through :mod:`.interface`:

- :mod:`.models`: the ``user_session`` table;
- :mod:`.store`: every query on it;
- :mod:`.principal`: the check every authenticated request makes;
- :mod:`.lifecycle`: installing the strategy, starting and ending sessions;
- :mod:`.routes`: logout, and listing and revoking one's sessions; the login
  endpoint is :mod:`app.auth.cookie_login`'s, shared with ``signed_cookie``.
"""
