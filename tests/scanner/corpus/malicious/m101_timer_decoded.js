const payload = atob('cHJvY2Vzcy5leGl0KCk=');
setTimeout(payload, 100);
