"""Kafka's security model as pure logic: principals, DN formatting and mapping rules, SASL PLAIN and
SCRAM exchanges, JAAS options. No sockets, files or clocks here: the broker's network layer feeds
bytes and time in and acts on what comes back."""
