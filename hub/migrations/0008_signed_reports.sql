-- Signed reports (issue 12 item 1): each stored version keeps the sender's detached JWS over its exact
-- bytes (`body`), so this hub can forward it byte for byte with its signature, and the serial of
-- the certificate that signed it, so a later revocation stops it counting without re-verifying.
-- Rows stored before signatures have neither: they are not counted until the child sends again.
ALTER TABLE reports ADD COLUMN jws TEXT;
ALTER TABLE reports ADD COLUMN signer TEXT;
