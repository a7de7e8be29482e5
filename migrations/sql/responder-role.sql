-- The least-privilege database role of certctl-revocation-responder, applied by
-- `certctl-migrate responder-role` (as the schema owner, after `certctl-migrate up`; again after
-- upgrades, which may add columns the responder reads). Idempotent.
--
-- The responder reads what it publishes and nothing else: CA certificates (never their keys),
-- certificate serials and revocations, stored CRLs, the delegated OCSP signers (whose keys are
-- sealed under CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY, not the CA key-encryption key) and the list
-- of applied migrations (its readiness waits for the schema it was built for). It writes nothing.
-- Column grants, not table grants, on `issuers`: issuers.private_key_ciphertext stays unreadable
-- even if the responder is compromised. The password, if any, is set separately by the command.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'certctl_responder') THEN
        CREATE ROLE certctl_responder LOGIN;
    END IF;
EXCEPTION
    -- Created by a session that did not take certctl-migrate's lock, between the check and the
    -- CREATE (the catalogue's unique index reports it as unique_violation).
    WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

-- Read-only by default for every transaction it opens.
ALTER ROLE certctl_responder SET default_transaction_read_only = on;

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM certctl_responder;
GRANT USAGE ON SCHEMA public TO certctl_responder;

GRANT SELECT (id, certificate_der, not_after, crl_shards) ON issuers TO certctl_responder;
GRANT SELECT (issuer_id, serial_hex, created_xid) ON certificates TO certctl_responder;
GRANT SELECT (issuer_id, serial_hex, revoked_at, reason_code, created_xid) ON certificate_revocations TO certctl_responder;
GRANT SELECT (issuer_id, shard, crl_number, this_update, next_update, der) ON crls TO certctl_responder;
GRANT SELECT (id, issuer_id, key_algorithm, certificate_der, private_key_ciphertext, not_before, not_after, created_at)
    ON ocsp_signers TO certctl_responder;
GRANT SELECT ON seaql_migrations TO certctl_responder;
