R
orders*postgres-orders2dynamodb-orders8J 
beta
planbetagold"Rz
u-1
planbetaz
u-2
planfree