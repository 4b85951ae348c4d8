"""JWT sessions: short-lived access tokens and rotating refresh tokens.

An access token is a JWT signed with the one configured algorithm. It carries
what a request needs to know about its user (id, email, its roles and
permissions where the project has them, as at issue time, and the user's
security stamp), so checking it for a read needs no database: only the
signature and the claims. Nothing can recall an
access token once issued, which is why it lives at most 15 minutes; for reads,
logout and deactivation take effect when it expires. An unsafe request (POST,
PUT, PATCH, DELETE) is authorised against the database instead: the user must
exist, be active and still have the token's stamp, and its grants are
today's, so a demoted or deactivated user's token changes nothing.

A refresh token is an opaque random string whose SHA-256 alone is stored.
Each use spends it and issues a new pair in the same family, which keeps the
absolute lifetime set at login. A spent token presented again means that two
parties hold it, so the whole family is revoked (RFC 9700 4.14.2). That holds
for two concurrent refreshes with one token as well: exactly one wins, the
other is a reuse, and the family (the winner's new token too) is revoked.
``REFRESH_REUSE_INTERVAL`` (seconds, default 0: off) softens that for a
client that lost an answer: within it, a just spent token answers with the
successor already issued, which :mod:`.store` derives from it with the
server's key rather than storing it.

The rest of the application sees this strategy through :mod:`.interface`:

- :mod:`.models`: the ``refresh_tokens`` table;
- :mod:`.tokens`: access tokens, their keys and their check;
- :mod:`.store`: refresh tokens: issuing, spending and revoking them;
- :mod:`.principal`: the check every authenticated request makes;
- :mod:`.lifecycle`: installing the strategy, starting and ending sessions;
- :mod:`.grants`: ``POST /auth/login`` as an RFC 6749 token endpoint
  (password and refresh grants), and the refresh grant itself;
- :mod:`.errors`: its errors, with the RFC 6749 5.2 fields;
- :mod:`.routes`: refresh (the same grant with a JSON body) and logout.
"""
