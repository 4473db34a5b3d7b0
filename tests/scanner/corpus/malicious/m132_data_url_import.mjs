await import('data:text/javascript;base64,cHJvY2Vzcy5leGl0KCk=');
