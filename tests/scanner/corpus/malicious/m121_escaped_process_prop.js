process.\u0062inding('fs');
