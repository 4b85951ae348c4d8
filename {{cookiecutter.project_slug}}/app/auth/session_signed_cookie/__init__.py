"""Signed-cookie sessions: the whole session lives in a cookie.

The cookie holds ids and times only (signed is not encrypted), signed with
itsdangerous using HMAC-SHA256 and a purpose salt. Every request checks, from
the times inside the payload, the idle timeout and the absolute lifetime, and
reads the user's security stamp, so a password change, a deactivation or "log
out everywhere" ends every older cookie, and a cookie of a deleted user never
fits a later account.

The rest of the application sees this strategy through :mod:`.interface`:

- :mod:`.cookie`: what the cookie carries, and its signing;
- :mod:`.principal`: the check every authenticated request makes;
- :mod:`.lifecycle`: installing the strategy, starting and ending sessions;
- :mod:`.routes`: logout and "log out everywhere"; the login endpoint is
  :mod:`app.auth.cookie_login`'s, shared with ``database``.
"""
