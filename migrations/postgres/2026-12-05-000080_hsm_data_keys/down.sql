DROP TABLE hsm_data_keys;
