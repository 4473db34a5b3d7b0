\u0065val(atob(data));
