function run( {
  eval(payload)

