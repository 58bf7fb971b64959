DROP TABLE users;
DROP TABLE companies;
DROP FUNCTION omni_touch_updated_at();
