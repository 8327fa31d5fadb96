"""The device agent: enrollment client, collectors, local protection and the offline spool."""
