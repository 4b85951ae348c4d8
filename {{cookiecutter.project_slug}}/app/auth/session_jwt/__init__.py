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

Refresh tokens are opaque and rotate; :mod:`.store` says how a reuse is
caught.

The rest of the application sees this strategy through :mod:`.interface`:

- :mod:`.models`: the ``refresh_tokens`` table;
- :mod:`.tokens`: access tokens, their keys and their check;
- :mod:`.store`: refresh tokens: issuing, spending and revoking them;
- :mod:`.principal`: the check every authenticated request makes;
- :mod:`.lifecycle`: installing the strategy, starting and ending sessions;
- :mod:`.routes`: refresh and logout.
"""
