"""Sign-in providers other than emailpass: redirect providers (OAuth 2.0 / OpenID Connect).

``oauth.py`` binds Authlib (authorize URL, code exchange, discovery, the provider's HTTP), ``id_token.py``
verifies id_tokens with joserfc and the project's JWKS client, ``state.py`` keeps the sign-ins in
flight. Nothing here knows Flask's request machinery: services call in and turn the refusals into answers.
"""
