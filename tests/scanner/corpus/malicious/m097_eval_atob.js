eval(atob('Y29uc29sZS5sb2cocHJvY2Vzcy5lbnYp'));
