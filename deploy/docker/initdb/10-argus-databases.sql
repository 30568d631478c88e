-- Run once by the postgres image on a fresh volume: one database each for web and alarm, owned
-- by the POSTGRES_USER the image created (argus).
CREATE DATABASE argus_web OWNER argus;
CREATE DATABASE argus_alarm OWNER argus;
