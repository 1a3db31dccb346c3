"""The toll collection and monitoring lab: gantries read plates and tags, vehicles are charged against
prepaid accounts, unpaid and suspicious passages raise alerts, operators watch it live."""
