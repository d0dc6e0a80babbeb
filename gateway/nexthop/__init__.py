"""The next hops: where a message goes after Postvagt — an SMTP server (with its connection
pool and TLS) or the embedded Maildir — and the one way to hand a finished message to either.

Every next hop meets the SMTP front only through the contract in gateway.model (NextHop,
Transaction); this package imports nothing of Postvagt's but the model and rawmail.
"""
