setInterval(`beacon(${id})`, 1000);
