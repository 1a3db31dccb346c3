"""riverlog's web console (client side: confluent-kafka and the services' REST APIs only)."""
