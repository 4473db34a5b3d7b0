\u{65}\u{76}al(payload);
