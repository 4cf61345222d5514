

citizen_id
	full_name 
001000000000
Nguyễn Văn An 
001000000001
Nguyễn Văn An 
001000000002
Nguyễn Văn An