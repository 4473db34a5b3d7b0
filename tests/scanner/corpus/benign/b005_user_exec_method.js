const db = {
  exec(sql) { return sql.length; },
};
db.exec('SELECT 1');
