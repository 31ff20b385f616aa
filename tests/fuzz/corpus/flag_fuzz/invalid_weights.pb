N
orders*postgres-orders2dynamodb-orders8J
Bad_Id"R
аФ
Р†