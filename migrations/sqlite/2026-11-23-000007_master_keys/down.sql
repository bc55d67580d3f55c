UPDATE meta SET value = (SELECT fingerprint FROM master_keys WHERE state = 'active')
    WHERE name = 'master_key_fingerprint'
    AND EXISTS (SELECT 1 FROM master_keys WHERE state = 'active');
DROP TABLE master_keys;
