const G = Object.getPrototypeOf(function* () {}).constructor;
G(payload)().next();
