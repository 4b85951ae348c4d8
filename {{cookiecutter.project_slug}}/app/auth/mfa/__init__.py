"""Two-factor authentication: TOTP (RFC 6238) with recovery codes.

- :mod:`.models`: the TOTP secret, the recovery codes, the login challenges;
- :mod:`.keys`: encrypting the secret at rest, hashing recovery codes;
- :mod:`.totp`: secrets, ``otpauth://`` URIs, QR codes, checking a code;
- :mod:`.service`: enrolling, confirming, checking and removing factors;
- :mod:`.challenge`: the ``mfa_token`` between the password and the code;
- :mod:`.enrollment`: ``MFA_REQUIRED_ROLES``;
- :mod:`.router`: ``/auth/mfa/*``.
"""
