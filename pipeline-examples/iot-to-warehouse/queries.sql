-- Queries of the lake, over a table `telemetry` of the decrypted files (query_duckdb.py loads it).

-- Hourly averages per device type.
SELECT date_trunc('hour', event_time) AS hour,
       device_type,
       count(*)                        AS readings,
       round(avg(temperature_c), 2)    AS avg_temperature_c,
       round(avg(humidity_pct), 1)     AS avg_humidity_pct
FROM telemetry
GROUP BY ALL
ORDER BY hour, device_type;

-- Devices with a low battery (below 3.4 V at their last reading).
SELECT device_id, device_type, arg_max(battery_v, event_time) AS battery_v
FROM telemetry
GROUP BY ALL
HAVING arg_max(battery_v, event_time) < 3.4
ORDER BY battery_v
LIMIT 10;
